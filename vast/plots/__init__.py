"""`vast plot`: the paper's figures and a results table (with IQM and probability of improvement) from
run directories. stats.py holds the statistics, runs.py reads runs, figures.py and tables.py write."""
