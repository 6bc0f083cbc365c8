"""Search (QIDO-RS), retrieve (WADO-RS) and store (STOW-RS) over DICOMweb with dicomweb-client.

Each call turns every way a PACS can fail (down, slow, 401/403/404/5xx, TLS, a reply that is not
DICOM) into one PacsError with one clear sentence. No retries: a user waiting on a search is better
served by a clear message now than by an exponential back-off. Credentials travel in a requests auth
hook, never in a URL or a logged header.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import pydicom
import requests
from pydicom.dataset import Dataset

from xrayviewer.pacs.config import PacsConfig
from xrayviewer.pacs.errors import PacsError

log = logging.getLogger(__name__)

STUDY_FIELDS = ("StudyDate", "StudyTime", "StudyDescription", "ModalitiesInStudy", "AccessionNumber",
                "PatientName", "PatientID", "NumberOfStudyRelatedInstances")
DEFAULT_LIMIT = 500
INSTANCE_FIELDS = ("SOPClassUID", "SeriesInstanceUID", "Modality", "InstanceNumber")


class _Bearer(requests.auth.AuthBase):
    """``Authorization: Bearer`` added as a request is sent, so the token is in no stored header."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "_Bearer(<hidden>)"


class _Session(requests.Session):
    """A session whose TLS setting is ours: requests would let $REQUESTS_CA_BUNDLE override a CA bundle
    set on the session, silently trusting another authority than the one configured."""

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        settings["verify"] = self.verify
        return settings


@dataclass(frozen=True)
class StudySummary:
    """One study as a search lists it. Patient fields are PHI: show them only when asked."""

    study_uid: str
    date: str = ""
    time: str = ""
    description: str = ""
    modalities: tuple[str, ...] = ()
    instances: int | None = None
    accession: str = ""
    patient_name: str = ""
    patient_id: str = ""


@dataclass(frozen=True)
class InstanceRef:
    """Where one instance lives and what it is."""

    study_uid: str
    series_uid: str
    sop_uid: str
    sop_class_uid: str = ""
    modality: str = ""

    @property
    def label(self) -> str:
        return f"{self.series_uid}/{self.sop_uid}"


def _as_dataset(item: dict) -> Dataset:
    try:
        return Dataset.from_json(item)
    except Exception as exc:  # pydicom raises a variety on malformed JSON
        raise PacsError(f"the PACS sent a search result that is not DICOM JSON: {exc}", "bad_reply") from None


def _multi(ds: Dataset, keyword: str) -> tuple[str, ...]:
    value = ds.get(keyword)
    if value is None or value == "":
        return ()
    return tuple(str(v) for v in value) if isinstance(value, (list, pydicom.multival.MultiValue)) else (str(value),)


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    return "" if value is None else str(value)


class PacsClient:
    """A DICOMweb server reached with one config; methods raise PacsError only."""

    def __init__(self, config: PacsConfig) -> None:
        from dicomweb_client.api import DICOMwebClient

        self.config = config
        session = _Session()
        if config.token:
            session.auth = _Bearer(config.token)
        elif config.username:
            session.auth = requests.auth.HTTPBasicAuth(config.username, config.password)
        session.verify = config.ca_bundle or config.verify_tls
        self._session = session
        try:
            self._client = DICOMwebClient(url=config.url, session=session, timeout=(config.timeout, config.timeout))
        except ValueError as exc:
            raise PacsError(f"not a usable DICOMweb URL {config.url}: {exc}", "config") from None
        self._client.set_http_retry_params(retry=False)
        # `retrying` logs every failed attempt with its traceback at WARNING; our PacsError says it in one line.
        logging.getLogger("retrying").setLevel(logging.CRITICAL)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> PacsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _translate(self, action: str, what: str = "") -> Iterator[None]:
        """Turn whatever the request raised into one PacsError saying what failed and what to do."""
        url, host, t = self.config.url, self.config.host, self.config.timeout
        try:
            yield
        except PacsError:
            raise
        except requests.exceptions.SSLError:
            raise PacsError(
                f"the TLS certificate of {host} could not be verified while {action}; if the hospital uses its own "
                "certificate authority, set ca_bundle in the PACS config", "tls",
            ) from None
        except requests.exceptions.ConnectTimeout:
            raise PacsError(f"the PACS at {url} did not accept a connection within {t:g} s while {action}",
                            "timeout") from None
        except requests.exceptions.ReadTimeout:
            raise PacsError(f"the PACS at {url} did not answer within {t:g} s while {action}", "timeout") from None
        except requests.exceptions.ConnectionError as exc:
            reason = "connection refused" if "refused" in str(exc).lower() else "no connection"
            raise PacsError(f"cannot reach the PACS at {url} ({reason}) while {action}; is it running and is "
                            "the URL right?", "down") from None
        except requests.exceptions.HTTPError as exc:
            raise self._http_error(exc.response, action, what) from None
        except requests.exceptions.JSONDecodeError:
            raise PacsError(f"the PACS sent a reply that could not be read while {action}: not DICOM JSON",
                            "bad_reply") from None
        except requests.exceptions.RequestException as exc:
            raise PacsError(f"the request to {url} failed while {action}: {type(exc).__name__}", "bad_reply") from None
        except (ValueError, KeyError, TypeError, EOFError, pydicom.errors.InvalidDicomError) as exc:
            raise PacsError(f"the PACS sent a reply that could not be read while {action}: {exc}",
                            "bad_reply") from None

    def _http_error(self, response: requests.Response | None, action: str, what: str) -> PacsError:
        code = response.status_code if response is not None else 0
        who = f" (credentials from {self.config.source})" if self.config.source else ""
        if code == 401:
            if self.config.auth_kind == "none":
                return PacsError(f"the PACS at {self.config.url} asks for a login (401) while {action}; set the "
                                 "username/password or token in the PACS config or environment", "auth")
            return PacsError(f"the PACS at {self.config.url} refused the login (401) while {action}; check the "
                             f"{'token' if self.config.token else 'username and password'}{who}", "auth")
        if code == 403:
            return PacsError(f"the PACS denied this account access (403) while {action}; ask its administrator "
                             "for the permission", "forbidden")
        if code == 404:
            return PacsError(f"{what or 'the resource'} was not found on the PACS (404) while {action}", "not_found")
        if code >= 500:
            return PacsError(f"the PACS failed with HTTP {code} while {action}; try again later or ask its "
                             "administrator", "server")
        return PacsError(f"the PACS answered HTTP {code} while {action}", "bad_reply")

    # QIDO-RS ----------------------------------------------------------------------------------------------------

    def search_studies(self, *, modalities: Sequence[str] = (), since: str = "", study_uid: str = "",
                       limit: int = DEFAULT_LIMIT) -> list[StudySummary]:
        """Studies matching all the filters, newest first, at most ``limit`` per modality asked for.

        ``since`` is YYYYMMDD (inclusive). One request per modality, no paging: dicomweb-client's
        "get remaining" paging never ends on servers (Orthanc 1.10) that ignore the offset.
        """
        base: dict[str, str] = {}
        if since:
            base["StudyDate"] = f"{since}-"
        if study_uid:
            base["StudyInstanceUID"] = study_uid
        queries = [base | {"ModalitiesInStudy": m} for m in modalities] if modalities else [base]
        found: dict[str, StudySummary] = {}
        with self._translate("searching for studies"):
            for query in queries:  # one query per modality: list matching is not portable across servers
                items = self._client.search_for_studies(search_filters=query, fields=list(STUDY_FIELDS), limit=limit)
                if len(items) >= limit:
                    log.warning("the PACS returned the maximum of %d studies for one query; there may be more "
                                "(narrow the search with a later date or a modality)", limit)
                for item in items:
                    ds = _as_dataset(item)
                    uid = _text(ds, "StudyInstanceUID")
                    if not uid:
                        continue
                    n = ds.get("NumberOfStudyRelatedInstances")
                    found[uid] = StudySummary(
                        study_uid=uid, date=_text(ds, "StudyDate"), time=_text(ds, "StudyTime"),
                        description=_text(ds, "StudyDescription"), modalities=_multi(ds, "ModalitiesInStudy"),
                        instances=int(n) if n not in (None, "") else None, accession=_text(ds, "AccessionNumber"),
                        patient_name=_text(ds, "PatientName"), patient_id=_text(ds, "PatientID"),
                    )
        return sorted(found.values(), key=lambda s: (s.date, s.time, s.study_uid), reverse=True)

    def list_instances(self, study_uid: str) -> list[InstanceRef]:
        """Every instance of a study, in series and instance order."""
        refs = []
        with self._translate(f"listing the instances of study {study_uid}", f"study {study_uid}"):
            items = self._client.search_for_instances(study_instance_uid=study_uid, fields=list(INSTANCE_FIELDS))
            for item in items:
                ds = _as_dataset(item)
                sop, series = _text(ds, "SOPInstanceUID"), _text(ds, "SeriesInstanceUID")
                if not (sop and series):
                    continue
                number = ds.get("InstanceNumber")
                refs.append((series, int(number) if number not in (None, "") else 0, InstanceRef(
                    study_uid=study_uid, series_uid=series, sop_uid=sop, sop_class_uid=_text(ds, "SOPClassUID"),
                    modality=_text(ds, "Modality"),
                )))
        return [ref for _, _, ref in sorted(refs, key=lambda r: (r[0], r[1]))]

    # WADO-RS ----------------------------------------------------------------------------------------------------

    def retrieve(self, ref: InstanceRef) -> Dataset:
        """One instance, in whatever transfer syntax the PACS holds it."""
        with self._translate(f"retrieving instance {ref.sop_uid}", f"instance {ref.sop_uid}"):
            return self._client.retrieve_instance(ref.study_uid, ref.series_uid, ref.sop_uid)

    # STOW-RS ----------------------------------------------------------------------------------------------------

    def store(self, datasets: Sequence[Dataset], study_uid: str) -> int:
        """Store objects of one study in a single request; returns how many the PACS accepted.

        Raises PacsError when the request fails or the PACS reports any object as failed.
        """
        if not datasets:
            return 0
        with self._translate(f"storing {len(datasets)} result objects in study {study_uid}", f"study {study_uid}"):
            reply = self._client.store_instances(list(datasets), study_instance_uid=study_uid)
        failed = list(getattr(reply, "FailedSOPSequence", []) or [])
        if failed:
            reasons = sorted({str(item.get("FailureReason", "?")) for item in failed})
            raise PacsError(f"the PACS refused {len(failed)} of {len(datasets)} result objects in study {study_uid} "
                            f"(failure reason {', '.join(reasons)})", "server")
        stored = list(getattr(reply, "ReferencedSOPSequence", []) or [])
        return len(stored) if stored else len(datasets)
