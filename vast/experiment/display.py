"""One live display for a whole sweep: a bar over every update of the grid, and one line per run in
progress (its updates and latest evaluation); finished runs leave the display."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class SweepDisplay:
    def __init__(self, plan, states: dict[str, str], console: Console, enabled: bool = True):
        self.console = console
        self.updates = {r.key: r.updates for r in plan.runs}
        total_runs = len(plan.runs)
        self.runs_done = sum(1 for s in states.values() if s == "done")
        todo_updates = sum(r.updates for r in plan.runs if states[r.key] != "done")
        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} updates"),
            TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            disable=not enabled,
        )
        self.total_runs = total_runs
        self.sweep = self.bar.add_task("sweep", total=todo_updates, info=self._runs_text())
        self.tasks: dict[str, Any] = {}
        self.seen: dict[str, int] = {}
        self.metric: dict[str, str] = {}

    def _runs_text(self) -> str:
        return f"{self.runs_done}/{self.total_runs} runs done"

    def __enter__(self) -> SweepDisplay:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.__exit__(*exc)

    def message(self, message: tuple) -> None:
        kind, key, *rest = message
        if kind == "start":
            start = int(rest[0])
            self.seen[key] = start
            self.bar.advance(self.sweep, start)  # updates a resumed run already had
            self.tasks[key] = self.bar.add_task(
                f"  {key}", total=self.updates[key], completed=start, info="resumed" if start else ""
            )
        elif kind == "row":
            update, metric = int(rest[0]), rest[1]
            if metric is not None:
                self.metric[key] = f"eval {metric:.3f}"
            self.bar.advance(self.sweep, update - self.seen.get(key, 0))
            self.seen[key] = update
            if key in self.tasks:
                self.bar.update(self.tasks[key], completed=update, info=self.metric.get(key, ""))

    def finished(self, outcome: dict[str, Any]) -> None:
        key = outcome["key"]
        if key in self.tasks:
            self.bar.remove_task(self.tasks.pop(key))
        if outcome["status"] == "failed":
            self.console.print(f"[red]failed[/] {key}: {outcome['error']}")
        elif outcome["status"] == "done":
            self.runs_done += 1
            if not outcome.get("skipped"):
                rest = self.updates[key] - self.seen.get(key, 0)
                self.bar.advance(self.sweep, max(0, rest))
        self.bar.update(self.sweep, info=self._runs_text())

    def note(self, text: str) -> None:
        self.console.print(text)
