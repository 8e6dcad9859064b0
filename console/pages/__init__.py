"""The console's pages, one module per area; ``console.app`` includes every router defined here."""
