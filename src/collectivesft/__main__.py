from collectivesft.cli.main import main

main()
