"""What only the tests and the benchmarks use: reference tokenizers and random checkpoints.

Kept out of the installed package (pyproject includes ``dta_edge`` and its subpackages only):
a user's install carries no code that exists to build test inputs. Tests import it from the
checkout (pytest puts the repository root on sys.path); benchmark scripts add the root first.
"""
