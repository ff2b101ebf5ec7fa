from notification_actions.cli import main

main()
