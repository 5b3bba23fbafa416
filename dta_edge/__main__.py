from dta_edge.cli import main

main()
