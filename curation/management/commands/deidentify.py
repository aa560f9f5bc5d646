"""manage.py deidentify IN_DIR OUT_DIR — batch DICOM de-identification without a database.

Output mirrors IN_DIR's relative paths under OUT_DIR. The subject map (PHI: it
links original PatientIDs to subject IDs) is read from and written back to
--subjects (default: ``<OUT_DIR>-subjects.csv`` beside OUT_DIR, never inside it).
"""
from django.core.management.base import BaseCommand, CommandError

from curation.deid.batch import DEFAULT_UID_ROOT, BatchConfig, format_summary, load_secret, run_batch
from curation.deid.profile import Profile
from curation.deid.subjects import TCIA_OFFSET_RANGE


class Command(BaseCommand):
    help = "De-identify every DICOM file under IN_DIR into OUT_DIR (PS3.15 Basic Profile + options)."
    requires_system_checks = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("in_dir")
        parser.add_argument("out_dir")
        parser.add_argument("--options", default="tcia",
                            help="tcia | basic | comma list of option names (e.g. tcia,-retainSafePrivate,retainUIDs)")
        parser.add_argument("--subjects", default=None, help="subject map CSV (read if present, written back)")
        parser.add_argument("--prefix", default="SUBJ", help="subject ID prefix (collection short name)")
        parser.add_argument("--date-offset-range", default=f"{TCIA_OFFSET_RANGE[0]}:{TCIA_OFFSET_RANGE[1]}",
                            help="range of per-subject date offsets in days, MIN:MAX")
        parser.add_argument("--uid-root", default=DEFAULT_UID_ROOT)
        parser.add_argument("--uid-namespace", default="",
                            help="keys UID remapping with the secret (use one per collection: the same original "
                                 "UID then gets a different new UID in each)")
        parser.add_argument("--secret-file", default=None,
                            help="file holding the UID hashing secret (created if missing)")
        parser.add_argument("--safe-private", default=None, help="safe-private dictionary CSV")
        parser.add_argument("--masks", default=None, help="pixel mask rules CSV")
        parser.add_argument("--workers", type=int, default=1)
        parser.add_argument("--no-progress", action="store_true")

    def handle(self, *args, **o):
        try:
            Profile.from_names(o["options"])
            lo, hi = (int(x) for x in o["date_offset_range"].split(":"))
            secret, note = load_secret(o["secret_file"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if note:
            self.stderr.write(note)
        cfg = BatchConfig(in_dir=o["in_dir"], out_dir=o["out_dir"], profile=o["options"],
                          subjects_csv=o["subjects"], uid_root=o["uid_root"], secret=secret,
                          workers=max(1, o["workers"]), prefix=o["prefix"], offset_range=(lo, hi),
                          safe_private_csv=o["safe_private"], masks_csv=o["masks"], uid_namespace=o["uid_namespace"])
        try:
            summary = run_batch(cfg, progress=not o["no_progress"], log=self.stderr.write)
        except (NotADirectoryError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(format_summary(summary))
        if summary.exit_code:
            raise CommandError("no file could be de-identified" if summary.files else "no files found in IN_DIR",
                               returncode=summary.exit_code)
