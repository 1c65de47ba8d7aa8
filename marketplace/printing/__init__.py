"""Printing stamps (tem): QR matrices, label stocks and PDF label sheets.

Pure rendering: no database, no Flask.  Every function takes its inputs as arguments.
(Not named ``labels``: ``marketplace/labels.py`` already holds the UI's display names.)
"""
