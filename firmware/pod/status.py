"""Status building of the pod: the reply blocks (01, 02, 06, 1D) as block dicts for eros.blocks.

Pure functions of a Pod (pod.core) and the time; nothing here changes the pod.
"""
try:
    from micropython import const
except ImportError:  # CPython: const() is only a compiler hint
    const = int

PM_VERSION = (2, 7, 0)
PI_VERSION = (2, 7, 0)
PRODUCT_EROS = const(2)
GAIN = const(2)
RSSI = const(32)            # the PDM accepts 30..59 (a real pod: gain 2, RSSI 32 = 0xa0)
RESERVOIR_EXACT_MAX = const(1000)   # 50 U: exact reservoir reports at or below it
RESERVOIR_ABOVE = const(0x3FF)      # "above 50 U"
_MINUTE_MS = const(60000)
_LOG_PAGE = const(50)       # pulse-log entries per 0E 0x50 / 0x51 reply
_PLUS_ENTRIES = const(60)   # 0E 0x03 "pulse log plus": up to 0x3c entries


def minutes_since(start_ms, now_ms):
    """Whole minutes from start_ms (None: not started) to now_ms."""
    if start_ms is None or now_ms <= start_ms:
        return 0
    return (now_ms - start_ms) // _MINUTE_MS


def reservoir_field(reservoir_pulses):
    """10-bit reservoir report: exact pulses at or below 50 U, else 0x3ff."""
    if reservoir_pulses > RESERVOIR_EXACT_MAX:
        return RESERVOIR_ABOVE
    return reservoir_pulses if reservoir_pulses > 0 else 0


def version_short(pod):
    """Answer to 07 AssignAddress."""
    return {"type": 0x01, "pm_version": list(PM_VERSION), "pi_version": list(PI_VERSION),
            "product_id": PRODUCT_EROS, "progress": pod.progress, "lot": pod.lot, "tid": pod.tid,
            "gain": GAIN, "rssi": RSSI, "address": pod.address}


def version_long(pod):
    """Answer to 03 SetupPod: the pulse constants a PDM checks (0.05 U, 2 s, 1 s, 52, 10, 80 h)."""
    return {"type": 0x01, "pulse_volume": 0x1388, "bolus_interval_eighths": 0x10,
            "prime_interval_eighths": 0x08, "prime_pulses": 0x34, "cannula_pulses": 0x0A,
            "pod_life_hours": 0x50, "pm_version": list(PM_VERSION), "pi_version": list(PI_VERSION),
            "product_id": PRODUCT_EROS, "progress": pod.progress, "lot": pod.lot, "tid": pod.tid,
            "address": pod.address}


def error(code, pod):
    """06 ErrorResponse for a refused command: word = fault code << 8 | progress."""
    return {"type": 0x06, "code": code, "word": ((pod.fault_code & 0xFF) << 8) | (pod.progress & 0x0F)}


def status(pod, now_ms):
    """1D StatusResponse."""
    return {"type": 0x1D, "delivery": pod.delivery_bits(), "progress": pod.progress,
            "pulses_delivered": pod.delivered & 0x1FFF, "last_prog_seq": pod.last_prog_seq,
            "bolus_remaining": min(pod.bolus_remaining(), 0x3FF), "alerts": pod.alerts.active_mask(),
            "minutes": min(minutes_since(pod.paired_ms, now_ms), 0x1FFF),
            "reservoir": reservoir_field(pod.reservoir())}


def detailed(pod, now_ms):
    """02 subtype 02 detailed status (also the answer of a faulted pod to any 1D-type request)."""
    faulted = pod.fault_code != 0
    return {"type": 0x02, "subtype": 0x02, "progress": pod.progress, "delivery": pod.delivery_bits(),
            "bolus_remaining": min(pod.bolus_remaining(), 0x3FF), "last_prog_seq": pod.last_prog_seq,
            "pulses_delivered": pod.delivered & 0xFFFF, "fault_code": pod.fault_code,
            "fault_minutes": min(minutes_since(pod.paired_ms, pod.fault_ms), 0xFFFF) if faulted else 0,
            "reservoir": reservoir_field(pod.reservoir()),
            "minutes": min(minutes_since(pod.paired_ms, now_ms), 0xFFFF),
            "alerts": pod.alerts.active_mask(), "table_fault": 0, "table_corruption": pod.table_corruption,
            "occlusion_type": 1 if pod.fault_code == 0x14 else 0,
            "bolus_in_progress": pod.bolus_at_fault if faulted else 0,
            "progress_at_fault": pod.progress_at_fault if faulted else 0,
            "gain": GAIN, "rssi": RSSI,
            "previous_progress": pod.progress_at_fault if faulted else pod.progress, "tail": 0}


def triggered_alerts(pod):
    """02 subtype 01: pod minutes at which each alert slot fired."""
    base = pod.paired_ms if pod.paired_ms is not None else 0
    return {"type": 0x02, "subtype": 0x01, "word": 0, "alert_minutes": pod.alerts.trigger_minutes(base)}


def _fault_minutes(pod):
    if pod.fault_code == 0:
        return 0
    return min(minutes_since(pod.paired_ms, pod.fault_ms), 0xFFFF)


def pod_info(pod, info_type, now_ms):
    """02 PodInfoResponse for 0E type info_type (pulse logs from pod.pulse_log, pod/pulselog.py)."""
    if info_type == 0x01:
        return triggered_alerts(pod)
    if info_type == 0x02:
        return detailed(pod, now_ms)
    if info_type == 0x03:
        return {"type": 0x02, "subtype": 0x03, "fault_code": pod.fault_code,
                "fault_minutes": _fault_minutes(pod), "minutes": min(minutes_since(pod.paired_ms, now_ms), 0xFFFF),
                "entry_size": 4, "max_entries": _PLUS_ENTRIES, "entries": pod.pulse_log.last(_PLUS_ENTRIES)}
    if info_type == 0x05:
        d = pod.setup_date
        return {"type": 0x02, "subtype": 0x05, "fault_code": pod.fault_code,
                "fault_minutes": _fault_minutes(pod), "reserved": bytes(8),
                "month": d[0], "day": d[1], "year": d[2], "hour": d[3], "minute": d[4]}
    if info_type == 0x06:
        return {"type": 0x02, "subtype": 0x06, "data": b"\x01\x00\x3f\xa8"}
    if info_type == 0x46:
        return {"type": 0x02, "subtype": 0x46, "data": bytes(0x7B)}
    log = pod.pulse_log
    if info_type == 0x50:
        return {"type": 0x02, "subtype": 0x50, "last_index": log.last_index(), "entries": log.last(_LOG_PAGE)}
    earlier = log.before_last(_LOG_PAGE, _LOG_PAGE)
    return {"type": 0x02, "subtype": 0x51, "count": len(earlier), "entries": earlier}
