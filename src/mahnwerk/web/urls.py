from django.urls import include, path

from mahnwerk.dunning.webhooks import tracking_webhook
from mahnwerk.web.api import api
from mahnwerk.web.views import (
    approval,
    bank,
    case_list,
    cases,
    collection,
    home,
    imports,
    offer,
    outbox,
    overview,
    portal,
    runs,
    saved_filters,
    short_link,
    vendors,
)

#: The pages, in the namespace "web" (``reverse("web:cases")``); the API keeps its own
#: namespace "api-v1", so it is mounted beside them, not inside.
pages = [
    path("", home.home, name="home"),
    path("anmelden/", home.LoginView.as_view(), name="login"),
    path("abmelden/", home.LogoutView.as_view(), name="logout"),
    # The workspace (support, relationship managers, administrators).
    path("uebersicht/", overview.overview, name="overview"),
    path("uebersicht/grafik/<slug:figure>.svg", overview.overview_chart, name="overview-chart"),
    path("uebersicht/zahlungen/", overview.overview_payments, name="overview-payments"),
    path("faelle/", case_list.case_list, name="cases"),
    # The list's exports, bulk action and saved filters: beside faelle/, never an order id.
    path("faelle.csv", case_list.case_list_csv, name="cases-csv"),
    path("faelle.xlsx", case_list.case_list_xlsx, name="cases-xlsx"),
    path("faelle-sammelaktion/", case_list.case_list_bulk, name="cases-bulk"),
    path("faelle-sammelaktion/bericht/", case_list.case_list_bulk_report,
         name="cases-bulk-report"),
    # Saved filters of every list, the workspace's and the portal's (the POST names the list).
    path("faelle-filter/speichern/", saved_filters.saved_filter_save, name="saved-filter-save"),
    path("faelle-filter/loeschen/", saved_filters.saved_filter_delete,
         name="saved-filter-delete"),
    path("faelle/<str:order_id>/", cases.case_detail, name="case"),
    path("faelle/<str:order_id>/sperren/", cases.case_block, name="case-block"),
    path("faelle/<str:order_id>/entsperren/", cases.case_unblock, name="case-unblock"),
    path("faelle/<str:order_id>/notiz/", cases.case_note, name="case-note"),
    path("faelle/<str:order_id>/adresse/", cases.case_address, name="case-address"),
    path("faelle/<str:order_id>/kein-neukauf/", cases.case_not_reordered,
         name="case-not-reordered"),
    path("faelle/<str:order_id>/vorschau/<int:level>/", cases.letter_preview,
         name="letter-preview"),
    path("faelle/<str:order_id>/vorschau/<int:level>/pdf/", cases.letter_preview_pdf,
         name="letter-preview-pdf"),
    path("briefe/<int:pk>/", cases.letter_detail, name="letter"),
    path("briefe/<int:pk>/pdf/", cases.letter_pdf, name="letter-pdf"),
    path("mahnlaeufe/", runs.run_list, name="runs"),
    path("mahnlaeufe/anlegen/", runs.run_start, name="run-start"),
    path("mahnlaeufe/vorschau.<slug:fmt>", runs.run_preview_export, name="run-preview-export"),
    path("mahnlaeufe/<int:pk>/", runs.run_detail, name="run"),
    path("mahnlaeufe/<int:pk>/entscheiden/", runs.run_decide, name="run-decide"),
    path("mahnlaeufe/<int:pk>/entscheidungen.<slug:fmt>", runs.run_export, name="run-export"),
    path("mahnlaeufe/<int:pk>/ausfuehren/", runs.run_execute, name="run-execute"),
    path("mahnlaeufe/<int:pk>/fortschritt/", runs.run_progress, name="run-progress"),
    path("mahnlaeufe/<int:pk>/verwerfen/", runs.run_discard, name="run-discard"),
    path("ausgang/", outbox.outbox_page, name="outbox"),
    path("ausgang.<slug:fmt>", outbox.outbox_export, name="outbox-export"),
    path("ausgang/zustellen/", outbox.outbox_deliver, name="outbox-deliver"),
    path("ausgang/drucken/", outbox.outbox_print_all, name="outbox-print-all"),
    path("ausgang/<int:pk>/gedruckt/", outbox.outbox_printed, name="outbox-printed"),
    path("ausgang/<int:pk>/erneut/", outbox.outbox_release, name="outbox-release"),
    path("ausgang/<int:pk>/gesendet/", outbox.outbox_confirm_sent,
         name="outbox-confirm-sent"),
    path("ausgang/<int:pk>/per-post/", outbox.outbox_post, name="outbox-post"),
    path("freigaben/", collection.approval_list_page, name="approvals"),
    path("freigaben.xlsx", collection.approvals_xlsx, name="approvals-xlsx"),
    path("freigaben.csv", collection.approvals_csv, name="approvals-csv"),
    path("faelle/<str:order_id>/freigabe/", collection.case_approval, name="case-approval"),
    path("faelle/<str:order_id>/zurueckziehen/", cases.case_withdraw, name="case-withdraw"),
    path("inkasso/", collection.collection_page, name="collection"),
    path("inkasso.xlsx", collection.collection_xlsx, name="collection-xlsx"),
    path("inkasso.csv", collection.collection_csv, name="collection-csv"),
    path("inkasso-sammelaktion/", collection.collection_bulk, name="collection-bulk"),
    path("inkasso/uebergabe/", collection.handover_export, name="handover-export"),
    path("inkasso/uebergaben/", collection.handover_list, name="handovers"),
    path("inkasso/uebergaben/<int:pk>/datei/", collection.handover_file,
         name="handover-file"),
    path("inkasso/berichtszeilen/<int:pk>/erledigt/", collection.report_row_clear,
         name="report-row-clear"),
    path("inkasso/bericht/", collection.agency_report_upload, name="agency-report-upload"),
    path("inkasso/pruefen/", collection.handover_check, name="handover-check"),
    # The month in the browser (issue 10, point 3): importing the platform's files, asking the
    # vendors and recording their decisions in bulk, the vendors and their portal logins.
    path("import/", imports.import_page, name="import"),
    path("import/<str:token>/", imports.import_job, name="import-job"),
    path("import/<str:token>/status/", imports.import_status, name="import-status"),
    path("import/<str:token>/anwenden/", imports.import_apply, name="import-apply"),
    path("import/<str:token>/verwerfen/", imports.import_discard, name="import-discard"),
    # The bank's statements (issue 11, point 3): read, checked, and the credits left for support.
    path("bankauszuege/", bank.bank_page, name="bank"),
    path("bankauszuege/buchungen/<int:pk>/zuordnen/", bank.bank_line_assign,
         name="bank-line-assign"),
    path("bankauszuege/buchungen/<int:pk>/uebergehen/", bank.bank_line_ignore,
         name="bank-line-ignore"),
    path("bankauszuege/buchungen/<int:pk>/erstattet/", bank.bank_line_refunded,
         name="bank-line-refunded"),
    path("freigaben/anfragen/", collection.approvals_ask, name="approvals-ask"),
    path("freigaben/entscheiden/", collection.approvals_decide, name="approvals-decide"),
    path("vendoren/", vendors.vendor_list, name="vendors"),
    path("vendoren/<str:vendor_id>/", vendors.vendor_detail, name="vendor"),
    path("vendoren/<str:vendor_id>/zugang/", vendors.vendor_login_create,
         name="vendor-login-create"),
    path("vendoren/<str:vendor_id>/zugang/<int:user_id>/einladen/",
         vendors.vendor_login_invite, name="vendor-login-invite"),
    path("konto/passwort/<uidb64>/<token>/", vendors.PasswordSetView.as_view(),
         name="password-set"),
    path("konto/passwort/gesetzt/", vendors.PasswordSetDoneView.as_view(),
         name="password-set-done"),
    # The vendor portal.
    path("portal/", portal.portal, name="portal"),
    path("portal/faelle/<str:order_id>/", portal.portal_case, name="portal-case"),
    path("portal/auswahl/", portal.portal_selection, name="portal-selection"),
    path("portal/freigabe/<str:order_id>/", portal.portal_approval, name="portal-approval"),
    path("portal/freigaben/", portal.portal_approvals, name="portal-approvals"),
    path("portal/offen/", portal.portal_open, name="portal-open"),
    path("portal/zurueckziehen/<str:order_id>/", portal.portal_withdraw, name="portal-withdraw"),
    path("portal/abgeschlossen/", portal.portal_closed, name="portal-closed"),
    path("portal/briefe/", portal.portal_letters, name="portal-letters"),
    path("portal/listen/<slug:name>.<slug:fmt>", portal.portal_export, name="portal-export"),
    # The buyer's offer page (public; the signed token is the key).
    path("angebot/", offer.offer_page, name="offer"),
    path("angebot/<str:token>/", offer.offer_page, name="offer-token"),
    # The short link printed on a letter and in its QR code (public; the code is the key).
    path("z/<str:code>", short_link.short_link, name="short-link"),
    # The vendor's approval link from the approval e-mail (public; the signed token is the key).
    path("freigabe/<str:token>/", approval.approval_link, name="approval-link"),
]

urlpatterns = [
    path("", include((pages, "web"))),
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),  # the language switch (set_language)
    # Bounces and other delivery events of a mail provider (django-anymail's tracking
    # webhooks); dunning.receivers marks the message bounced. Only a provider configured with
    # its webhook secret or signing key answers; every other path here is 404
    # (dunning.webhooks).
    path("anymail/<str:esp>/tracking/", tracking_webhook, name="anymail-tracking"),
]
