from cellbench.cli import main

main()
