from caegen.cli import main

main()
