from mongozarr.cli.app import main

main()
