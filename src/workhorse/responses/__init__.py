"""The generation engine behind the Responses API (no HTTP): the typed event builder
(``events``), the stored event log with its leases (``log``), prompts from history
(``prompt``), and the runner that carries responses to a stored end, follows their logs
and takes over those whose process died (``runner``)."""
