"""Many clients in one command: an accounting firm's workbooks, each run in a worker process.

``clients`` says which workbooks (and manuals) a command covers, ``workers`` runs one
function per client in processes of their own, ``tasks`` is what each worker does for
``run``, ``check`` and ``report``, ``pace`` shares the SMTP rate limit across workers,
``summary`` prints the one table and ``portfolio`` writes the portfolio page.
"""
