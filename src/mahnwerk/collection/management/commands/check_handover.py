"""``mahnwerk check-handover FILE... [--fix --out DIR]``"""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from mahnwerk.collection.handover_format import check_file, fixed_file


class Command(BaseCommand):
    help = _("Check handover files for the collection agency (process.md section 5): every "
             "problem with line, column, value and the fix. With --fix --out DIR, write "
             "corrected files where every fix is certain.")

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", type=Path)
        parser.add_argument("--fix", action="store_true",
                            help=_("write corrected files to --out"))
        parser.add_argument("--out", type=Path, help=_("folder for the corrected files"))

    def handle(self, *args, files, fix, out, **options):
        if fix and not out:
            raise CommandError(_("--fix needs --out DIR: the original files stay as they are."))
        if fix:
            out.mkdir(parents=True, exist_ok=True)
        bad = 0
        for path in files:
            if not path.exists():
                raise CommandError(_("%(file)s: no such file.") % {"file": path})
            report = check_file(path, collect_fixed=fix)
            for problem in report.problems:
                self.stdout.write(str(problem))
            if report.ok:
                self.stdout.write(ngettext("%(file)s: correct (%(rows)d row).",
                                           "%(file)s: correct (%(rows)d rows).", report.rows)
                                  % {"file": path.name, "rows": report.rows})
                continue
            bad += 1
            if fix:
                self._fix(path, report, out)
        if bad:
            raise CommandError(_("Files with problems: %(bad)d of %(all)d.")
                               % {"bad": bad, "all": len(files)})

    def _fix(self, path, report, out):
        fixed = fixed_file(report, name=path.name)
        if fixed is None:
            self.stdout.write(ngettext(
                "%(file)s: not written; this needs a person: %(count)d problem without a "
                "certain fix (listed above without \"fix\").",
                "%(file)s: not written; these need a person: %(count)d problems without a "
                "certain fix (listed above without \"fix\").", len(report.uncertain))
                % {"file": path.name, "count": len(report.uncertain)})
            return
        name, content = fixed
        target = out / name
        target.write_bytes(content)
        self.stdout.write(_("%(file)s: corrected file written to %(target)s.")
                          % {"file": path.name, "target": target})
