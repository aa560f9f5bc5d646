"""Test data for the checks and the PHI report: real DICOM from pydicom's samples, ingested
through intake (so everything is de-identified exactly as in production)."""
import io

from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from curation.dicom.synth import SeriesSpec, build_series, uid_from
from curation.services.intake import Intake, start_batch
from tests.curation.intake_helpers import make_submission  # noqa: F401 - re-exported


def clean(ds):
    """What makes a synthetic CT conform: the CT sample carries an empty Laterality (Type 2C
    present when not allowed) and a zero PatientWeight."""
    for kw in ("Laterality", "PatientWeight"):
        if kw in ds:
            delattr(ds, kw)
    return ds


def encode(ds) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def series(patient="PAT-A", study="st1", key="se1", images=4, **kw):
    """[(dataset, bytes)] of a clean synthetic CT series."""
    out = []
    for ds, _ in build_series(SeriesSpec(patient, f"Doe^{patient}", study, key, images=images, **kw)):
        clean(ds)
        out.append((ds, encode(ds)))
    return out


def typo_series(count, typo="Chets {n}", at=2, images=3):
    """Datasets of `count` subjects with one series each, described "Chest" but for the file at
    `at`, which says `typo` (formatted with the series number n)."""
    files = []
    for n in range(count):
        s = [d for d, _ in series(f"PAT-{n}", f"st{n}", f"se{n}", images=images, series_description="Chest")]
        s[at].SeriesDescription = typo.format(n=n)
        files += s
    return files


def ingest(submission, datasets_or_bytes, name="f"):
    batch = start_batch(submission=submission, source="cli")
    intake = Intake(submission, batch)
    items = []
    for n, item in enumerate(datasets_or_bytes):
        data = item if isinstance(item, bytes) else encode(item)
        items.append(intake.take(data, f"{name}{n}.dcm"))
    intake.finish()
    return items


def _sample(name):
    ds = dcmread(get_testdata_file(name, download=False), force=True)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta = meta
    return ds


STUDY_LEVEL = ("StudyDate", "StudyTime", "StudyDescription", "PatientAge", "PatientSex", "AccessionNumber",
               "ReferringPhysicianName", "StudyID", "PatientBirthDate")


def _identity(ds, patient, study_uid, key, like=None):
    if like is not None:
        for kw in STUDY_LEVEL:
            if kw in like:
                setattr(ds, kw, like.data_element(kw).value)
            elif kw in ds:
                delattr(ds, kw)
    ds.PatientID = patient
    ds.PatientName = f"Doe^{patient}"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = uid_from(f"series:{key}")
    ds.SOPInstanceUID = uid_from(f"sop:{key}")
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def _conform(ds, for_uid):
    """What the RT samples lack for today's dciodvfy: the Frame of Reference module, no
    PatientPosition in RT objects, no retired beam dose point."""
    ds.FrameOfReferenceUID = for_uid
    ds.PositionReferenceIndicator = ""
    if "OperatorsName" not in ds:
        ds.OperatorsName = ""
    if "PatientPosition" in ds:
        del ds.PatientPosition
    for fraction in ds.get("FractionGroupSequence", []):
        for beam in fraction.get("ReferencedBeamSequence", []):
            if "BeamDoseSpecificationPoint" in beam:
                del beam.BeamDoseSpecificationPoint
    return ds


def rtstruct(patient, study_uid, key, ref_series, ref_for, ref_sops, like=None):
    ds = _conform(_identity(_sample("rtstruct.dcm"), patient, study_uid, key, like), ref_for)
    frame = ds.ReferencedFrameOfReferenceSequence[0]
    frame.FrameOfReferenceUID = ref_for
    ref_study = frame.RTReferencedStudySequence[0]
    ref_study.ReferencedSOPInstanceUID = study_uid
    ref_ser = ref_study.RTReferencedSeriesSequence[0]
    ref_ser.SeriesInstanceUID = ref_series
    items = []
    for sop in ref_sops:
        item = Dataset()
        item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        item.ReferencedSOPInstanceUID = sop
        items.append(item)
    ref_ser.ContourImageSequence = items
    for roi in ds.StructureSetROISequence:
        roi.ReferencedFrameOfReferenceUID = ref_for
    return ds


def rtplan(patient, study_uid, key, struct_sop, for_uid, like=None):
    ds = _conform(_identity(_sample("rtplan.dcm"), patient, study_uid, key, like), for_uid)
    if struct_sop is None:
        if "ReferencedStructureSetSequence" in ds:
            del ds.ReferencedStructureSetSequence
    else:
        ds.ReferencedStructureSetSequence[0].ReferencedSOPInstanceUID = struct_sop
    return ds


def rtdose(patient, study_uid, key, plan_sop, for_uid, like=None):
    ds = _conform(_identity(_sample("rtdose.dcm"), patient, study_uid, key, like), for_uid)
    # dciodvfy (dicom3tools) asserts on 32-bit OW pixel data: store the dose grid as 16 bits.
    dose = ds.pixel_array.astype("float64") * float(ds.DoseGridScaling)
    scale = max(float(dose.max()), 1e-9) / 65535
    ds.PixelData = (dose / scale).round().astype("uint16").tobytes()
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.DoseGridScaling = f"{scale:.10g}"[:16]
    ds.ReferencedRTPlanSequence[0].ReferencedSOPInstanceUID = plan_sop
    # The sample has no InstanceNumber (a DICOMDIR needs one). The old ignore list hid that
    # because it matched the message on any attribute.
    ds.InstanceNumber = 1
    return ds


def rt_chain(patient, study_key, series_key, ct_datasets, *, plan_ref=True, struct_series=None, struct_for=None, key="rt"):
    """RTSTRUCT → CT series, RTPLAN → RTSTRUCT, RTDOSE → RTPLAN, all under `patient`."""
    ct = ct_datasets[0]
    study_uid = ct.StudyInstanceUID
    s = rtstruct(patient, study_uid, f"{key}-struct", struct_series or ct.SeriesInstanceUID,
                 struct_for or ct.FrameOfReferenceUID, [d.SOPInstanceUID for d in ct_datasets], like=ct)
    p = rtplan(patient, study_uid, f"{key}-plan", s.SOPInstanceUID, ct.FrameOfReferenceUID, like=ct)
    d = rtdose(patient, study_uid, f"{key}-dose", p.SOPInstanceUID if plan_ref else uid_from(f"nowhere:{key}"),
               ct.FrameOfReferenceUID, like=ct)
    return [s, p, d]
