"""Demo tooling: a made-up marketplace (``marketplace``) and a month of the process played on it
(``month``), behind ``mahnwerk demo-data``. It stands right of every other app: it may use them
all, and nothing but its command and the tests imports from it."""
