"""Re-sync of a KB's website sources (issue 16).

    sources.py   WebsiteSource: made at finalize (url, crawl config), schedule / removed-pages policy edits
    services.py  sync_start (any door), syncs_start_due + sync_sweep (the periodic hook in drafts.actors)
    runner.py    the task body: crawl again with If-None-Match / If-Modified-Since, plan, apply or review
    plan.py      per URL: added | changed | removed | kept | unchanged | failed, with the reason (pure)
    apply.py     changed -> new elements + document_reprocess; added -> documents_add; gone -> kb.deletion
    review.py    "review changes before applying": a SYNC_REVIEW draft of the KB; finalize applies it
    selectors.py reads through the access funnel; states.py the SyncRun state machine

Nothing is imported here, so drafts.services can import drafts.sync.sources without a cycle.
"""
