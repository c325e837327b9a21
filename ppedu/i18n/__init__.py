"""The course in two languages from one source (English is the source, Chinese the translation).

    messages    ``_()``: ppedu's own messages (plots, widgets, grader) through gettext catalogs in
                ``locale/``; the language is ``PPEDU_LANG`` (``en`` or ``zh``), never the process
                locale; a message without a translation falls back to English
    catalog     the lookup behind ``_()`` and ``N_()`` (no ppedu import, so ``errors`` can use it)
    extract     collects every ``_()``/``N_()`` message id into the ``.po`` files and recompiles
    notebooks   translation units of the notebooks' Markdown cells, each stamped with a hash of
                the English cell it translates; builds the Chinese notebooks (the English code
                cells, tags and parameters, translated Markdown) and names every stale unit
    locale      the catalogs: locale/zh/LC_MESSAGES/ppedu.po (edited) and ppedu.mo (compiled)
    book        the same for the book: one unit per section of an English page (course/zh/), one
                per figure caption; turns a copy of course/ into the Chinese book
"""
