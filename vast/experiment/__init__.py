"""`vast experiment`: grids of settings × seeds, run in parallel in-process trainers, resumable.

settings.py parses the setting syntax (`vast-qtran-spatial@0.25:algo.return_norm=batch`), presets.py
holds the paper's comparisons, sweep.py plans the runs and executes them.
"""
