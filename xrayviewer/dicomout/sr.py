"""The machine-readable result: a Comprehensive SR holding a TID 1500 measurement report.

One SR per film, in the film's study, in a series of its own. The measurement group (TID 1501) references
the source image by SOP Class and Instance UID and carries the finding (pneumonia present / absent / not
assessed because out of scope), the probability the engine reported, the operating threshold and the
algorithm (model id and version). The report-level qualitative evaluations carry the "assistant, not a
diagnosis" statement and, when out of scope, the reason. Built with highdicom, which checks the template
and IOD rules as it goes.
"""

from __future__ import annotations

import warnings

import highdicom as hd
from highdicom.sr import (
    AlgorithmIdentification,
    CodeContentItem,
    ComprehensiveSR,
    ContainerContentItem,
    DeviceObserverIdentifyingAttributes,
    FindingSite,
    Measurement,
    MeasurementReport,
    MeasurementsAndQualitativeEvaluations,
    ObservationContext,
    ObserverContext,
    PersonObserverIdentifyingAttributes,
    QualitativeEvaluation,
    RelationshipTypeValues,
    SourceImageForMeasurementGroup,
    TextContentItem,
    TrackingIdentifier,
)
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from xrayviewer import NOTICE, __version__
from xrayviewer.dicomout import codes
from xrayviewer.dicomout.errors import DicomResultError
from xrayviewer.dicomout.finding import NORMAL, OUT_OF_SCOPE, PNEUMONIA, ScoredFilm

MANUFACTURER = "xrayviewer"
SR_SERIES_DESCRIPTION = "AI triage result (xrayviewer) - not for diagnosis"
READER_SERIES_DESCRIPTION = "Reader decisions (xrayviewer)"

_FINDING_VALUE = {PNEUMONIA: codes.PRESENT, NORMAL: codes.ABSENT, OUT_OF_SCOPE: codes.OUT_OF_SCOPE}


def device_uid(model_id: str) -> str:
    """A stable UID for 'xrayviewer running this model', so reports from one model share one observer."""
    return generate_uid(prefix="2.25.", entropy_srcs=["xrayviewer device", model_id])


def _lo(text: str) -> str:
    """Fit a text into a 64-character LO/SH-like slot without breaking it silently mid-word."""
    text = " ".join(str(text).split())
    return text if len(text) <= 64 else text[:61].rstrip() + "..."


def _person_name(who: str) -> str:
    """A reviewer as a DICOM person name: a single-component name gets the trailing caret PN asks for."""
    name = _lo(who.replace("\\", " ").replace("=", " "))
    return name if "^" in name else name + "^"


def _text(name: hd.sr.CodedConcept, value: str) -> TextContentItem:
    return TextContentItem(name=name, value=value, relationship_type=RelationshipTypeValues.CONTAINS)


def _algorithm(film: ScoredFilm) -> AlgorithmIdentification:
    parameters = [f"operating threshold {film.threshold:g}",
                  "probability calibrated" if film.calibrated else "probability not calibrated"]
    return AlgorithmIdentification(
        name=_lo(film.model_id), version=_lo(film.model_version or "unversioned"),
        parameters=parameters, manufacturer=MANUFACTURER,
    )


def _observation_context(film: ScoredFilm) -> ObservationContext:
    device = ObserverContext(
        observer_type=codes.DEVICE,
        observer_identifying_attributes=DeviceObserverIdentifyingAttributes(
            uid=device_uid(film.model_id), name=MANUFACTURER, manufacturer_name="xrayviewer project",
            model_name=_lo(film.model_id),
        ),
    )
    person = None
    if film.observer:
        person = ObserverContext(
            observer_type=codes.PERSON,
            observer_identifying_attributes=PersonObserverIdentifyingAttributes(
                name=_person_name(film.observer), login_name=_lo(film.observer),
            ),
        )
    return ObservationContext(observer_person_context=person, observer_device_context=device)


def _group(film: ScoredFilm, source: Dataset) -> MeasurementsAndQualitativeEvaluations:
    algorithm = _algorithm(film)
    measurements = []
    if film.probability is not None:
        measurements.append(Measurement(name=codes.PROBABILITY, value=float(film.probability),
                                        unit=codes.NO_UNITS, algorithm_id=algorithm))
    measurements.append(Measurement(name=codes.THRESHOLD, value=float(film.threshold), unit=codes.NO_UNITS,
                                    algorithm_id=algorithm))
    evaluations = [QualitativeEvaluation(name=codes.PNEUMONIA, value=_FINDING_VALUE[film.prediction])]
    if film.observer and film.model_prediction in _FINDING_VALUE:
        evaluations.append(QualitativeEvaluation(name=codes.MODEL_CALL, value=_FINDING_VALUE[film.model_prediction]))
    if film.borderline:
        evaluations.append(QualitativeEvaluation(name=codes.BORDERLINE, value=codes.PRESENT))
    return MeasurementsAndQualitativeEvaluations(
        tracking_identifier=TrackingIdentifier(uid=hd.UID(), identifier="pneumonia triage"),
        finding_type=codes.PNEUMONIA,
        finding_sites=[FindingSite(anatomic_location=codes.LUNG)],
        algorithm_id=algorithm,
        measurements=measurements,
        qualitative_evaluations=evaluations,
        source_images=[SourceImageForMeasurementGroup.from_source_image(source)],
    )


def _report_statements(film: ScoredFilm) -> ContainerContentItem:
    """TID 1500 row 12: what a reader of the SR must see whatever viewer shows it."""
    box = ContainerContentItem(name=codes.QUALITATIVE_EVALUATIONS, relationship_type=RelationshipTypeValues.CONTAINS)
    items: list[hd.sr.ContentItem] = [_text(codes.COMMENT, NOTICE)]
    if film.prediction == OUT_OF_SCOPE:
        items.append(CodeContentItem(name=codes.PNEUMONIA, value=codes.OUT_OF_SCOPE,
                                     relationship_type=RelationshipTypeValues.CONTAINS))
        items.append(_text(codes.SCOPE_REASON, film.scope_reason.strip()))
    if film.note.strip():
        items.append(_text(codes.READER_NOTE, film.note.strip()))
    box.ContentSequence = hd.sr.ContentSequence(items)
    return box


def build_sr(
    film: ScoredFilm,
    source: Dataset,
    *,
    series_uid: str,
    series_number: int,
    instance_number: int,
    sop_uid: str | None = None,
) -> ComprehensiveSR:
    """The SR for one film. ``source`` is the film's header (pixels not needed).

    Raises DicomResultError with the reason when highdicom refuses the content.
    """
    for keyword in ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID"):
        if not str(getattr(source, keyword, "") or ""):
            raise DicomResultError(f"the source film has no {keyword}, so a result cannot reference it")
    try:
        report = MeasurementReport(
            observation_context=_observation_context(film),
            procedure_reported=codes.CHEST_IMAGING,
            imaging_measurements=[_group(film, source)],
        )
        report[0].ContentSequence.append(_report_statements(film))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # highdicom warns about optional evidence attributes; errors still raise
            return ComprehensiveSR(
                evidence=[source],
                content=report[0],
                series_instance_uid=series_uid,
                series_number=series_number,
                sop_instance_uid=sop_uid or hd.UID(),
                instance_number=instance_number,
                manufacturer=MANUFACTURER,
                is_complete=True,
                is_final=False,  # preliminary: a radiologist makes the call
                is_verified=False,  # nobody signs an assistant's output
                series_description=READER_SERIES_DESCRIPTION if film.observer else SR_SERIES_DESCRIPTION,
                manufacturer_model_name=_lo(film.model_id),
                software_versions=f"xrayviewer {__version__}",
                coding_schemes=[codes.CODING_SCHEME],
            )
    except (ValueError, TypeError, AttributeError) as exc:
        raise DicomResultError(f"cannot build the structured report: {exc}") from exc
