from collectivesft.cli import main

main()
