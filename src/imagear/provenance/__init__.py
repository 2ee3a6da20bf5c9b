"""Content Credentials (C2PA) for the clips imagear stores and serves, and the AI disclosure.

- :mod:`~imagear.provenance.identity`: who signs (config ``c2pa_cert`` / ``c2pa_key``, or a
  per-install identity made on first use); :mod:`~imagear.provenance.certs` makes a chain;
- :mod:`~imagear.provenance.manifest`: what the credentials say (:class:`ClipFacts` -> the
  manifest definition; trainedAlgorithmicMedia for AI models, an edit for Ken Burns);
- :mod:`~imagear.provenance.sign`: signing (clips streamed; poster and preview in memory);
- :mod:`~imagear.provenance.read`: c2pa's Reader validates a file -> :class:`Credentials`;
- :mod:`~imagear.provenance.service`: ``imagear verify`` and ``imagear check``'s use of it;
- :mod:`~imagear.provenance.disclosure`: the words a person reads next to a clip (light).

c2pa and cryptography (the ``provenance`` extra) are imported inside functions; a missing
extra is EngineUnavailable naming ``pip install 'imagear[provenance]'``. docs/provenance.md.
"""
