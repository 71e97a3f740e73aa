"""The resident-facing bot, answer log and staff tools built on the `index` package."""
