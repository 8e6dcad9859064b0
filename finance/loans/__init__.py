"""Pledge loans: applications, offers, security, schedules, repayments, default and disposal.

The pure money maths (no database, no HTTP) lives in ``schedule``, ``accrual``, ``allocation`` and
``shortfall``; the service layer persists what they compute.
"""
