"""Starting roles: one role in this process (`roles`), the whole system as local processes
(`local`, i.e. `vast train`), or everything in one process (`serial`, i.e. `vast train --serial`)."""
