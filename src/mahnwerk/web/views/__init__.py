"""The pages of the workspace, the vendor portal and the buyer's offer page.

Views parse the request and call the apps' services and selectors; they hold no rule of the
process. Errors of the services (``CaseError``, ``RunError``, ``OutboxError``) are shown as
messages, in the words the service chose.
"""
