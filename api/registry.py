"""Registers every table, day-end handler, event subscriber and workflow by importing the domain packages
whole (``kernel.discovery``); tests/kernel/test_registration.py fails if a registering module is missed."""
# Nothing needs listing here any more. A module outside the domain packages that registers something
# may still be imported below: one import per line, any order (git's union merge, .gitattributes).

from kernel.discovery import import_all

import_all()
