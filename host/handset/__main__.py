from handset.cli import main

main()
