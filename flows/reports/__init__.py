"""What is written from the database for people: the Excel workbooks (`ledger`, the month's
ledger for the city; `batch`, one batch for the statistics section), which share `table` for
their header rows, filters and print layout, and `learn`, what reviewers' corrections are good
for (the review queue, training data, recalibrated thresholds). Reads the database through
schemas; may import flows.bench.evaluate for its statistics. Knows nothing of Prefect."""
