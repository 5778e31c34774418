"""Importing records from CSV and XLSX files, and exporting them again.

One concept per module:
  reading    bytes of a CSV or XLSX file to a header and rows (encodings, BOM, delimiter, sheets)
  mapping    which column fills which field: suggested from names and labels, overridden by hand
  values     a cell's text or spreadsheet value to what the field takes (numbers, dates, enums...)
  store      the ``xrm_imports`` rows: an import's file, options, progress, counts, rejected rows
  run        an import in batches through the record service, resumable after a crash
  undo       reversing an import: delete what it created, restore what it updated
  export     records to CSV, XLSX or JSON, page by page, with formula-injection escaping

Every write goes through the record service with channel ``import``, so validation,
normalisation, access, audit and workflows hold for an import as for any other write.
"""

from xrm.errors import XrmError


class BadFile(XrmError):
    """A file an import cannot read (binary, wrong encoding, empty, a zip bomb...): nothing
    is written, and the message says what is wrong and how to fix it."""

    code = "BAD_FILE"


class BadImport(XrmError):
    """Options that cannot work (a mapping to a field that does not exist, an unknown key):
    refused before anything is written."""

    code = "BAD_INPUT"
