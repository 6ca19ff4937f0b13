from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CollectionConfig(AppConfig):
    name = "mahnwerk.collection"
    verbose_name = _("Collection")

    def ready(self) -> None:
        # The reasons this app writes onto the timelines, as codes (see reasons).
        # Support records a vendor's decision that came by mail or chat from the command line,
        # through the same service as the portal and the signed links. The approvals module
        # (with the route economics) is imported when an action is used, not here: every
        # process runs this at its start.
        from mahnwerk.cases.actions import ACTIONS, Action
        from mahnwerk.collection import reasons  # noqa: F401

        def run(approve):
            def act(*, case, reason, actor, shared):
                from mahnwerk.collection.approvals import ApprovalError, decide_approval

                try:
                    decide_approval(case=case, approve=approve, actor=actor, reason=reason)
                except ApprovalError as exc:
                    from mahnwerk.cases.services import CaseError

                    raise CaseError(str(exc)) from None
            return act

        def decision_refusal(case):
            from mahnwerk.collection.approvals import decision_refusal

            return decision_refusal(case)

        ACTIONS["approve"] = Action(run=run(True), done=_("Case %(order)s approved for "
                                                          "collection."),
                                    refusal=decision_refusal)
        ACTIONS["cancel"] = Action(run=run(False), done=_("Case %(order)s cancelled at the "
                                                          "vendor's wish."),
                                   refusal=decision_refusal)

        # The case list's bulk action "ask the vendor": the schedule's request, now, for the
        # cases chosen.
        from mahnwerk.cases.bulk_actions import BULK_ACTIONS, BulkAction

        def ask_vendor(*, cases, reason, actor, user):
            from mahnwerk.collection.approvals import ask_vendors_about

            return ask_vendors_about(cases=cases, actor=actor)

        BULK_ACTIONS["ask_vendor"] = BulkAction(
            label=_("ask the vendor for approval"), needs_reason=False, together=ask_vendor)
