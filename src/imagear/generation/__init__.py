"""Generation as a pipeline of named stages: resolve -> route -> generate -> verify -> commit.

- :mod:`.protocol`: what a generator is (:class:`~.protocol.Generator`: local, remote and pool
  generators alike), a :class:`~.protocol.Job` and what came of it (:class:`~.protocol.Generated`);
- :mod:`.events`: the typed progress events (observe only);
- :mod:`.permit`: the permit a caller hands the pipeline to bound its generations (the batch);
- :mod:`.values`: the request, the outcome and the new clip handed to :mod:`imagear.clips`;
- :mod:`.stages`: the stages, each testable alone; :mod:`.pipeline`: the list and its driver.

This package's ``__init__`` imports nothing: :mod:`imagear.generators` imports
:mod:`.protocol` while :mod:`.stages` imports the generators.
"""
