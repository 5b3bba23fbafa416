"""Analyses behind the paper's claims (`dta analyze`): loss curves first; more to come."""
