"""Registers every table, day-end handler, event subscriber and workflow by importing the domain packages
whole (``kernel.discovery``); tests/kernel/test_registration.py fails if a registering module is missed."""
# Modules outside the domain packages that register something: one import per line, any order (this file
# merges with git's union strategy, .gitattributes).

from kernel.discovery import import_all

import_all()
