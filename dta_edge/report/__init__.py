"""`dta report`: Markdown + self-contained HTML + CSV from run folders."""
