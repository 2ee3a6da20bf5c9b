from imagear.cli import main

main()
