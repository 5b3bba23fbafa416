"""DTA curation: Phase I (teachers), Phase II (student-aligned rewriting, judge), selection."""
