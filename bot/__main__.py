"""`python -m bot`: the product's command line."""

from bot.cli import main

main()
