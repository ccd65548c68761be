"""Numbers of the Eros protocol: block types, pod progress, delivery bits, error and fault codes,
pulse constants, alert slots and info types. Values only; no behaviour.
"""

try:
    from micropython import const
except ImportError:  # CPython: const() is only a compiler hint
    const = int

# ---- message layer
ADDRESS_PAIRING = const(0xFFFFFFFF)  # message address before/while pairing
HEADER_LEN = const(6)                # address(4) + B9 + BLEN
CRC_LEN = const(2)
MIN_MESSAGE_LEN = const(10)          # header + one 2-byte block + CRC
MAX_BODY_LEN = const(1023)           # 10-bit body length
SEQ_MASK = const(0x0F)

# ---- block types
BLOCK_VERSION = const(0x01)          # VersionResponse (short 0x15 / long 0x1b)
BLOCK_POD_INFO = const(0x02)         # PodInfoResponse
BLOCK_SETUP_POD = const(0x03)
BLOCK_ERROR = const(0x06)            # ErrorResponse
BLOCK_ASSIGN_ADDRESS = const(0x07)
BLOCK_FAULT_CONFIG = const(0x08)
BLOCK_GET_STATUS = const(0x0E)
BLOCK_ACK_ALERTS = const(0x11)
BLOCK_BASAL_EXTRA = const(0x13)
BLOCK_TEMP_BASAL_EXTRA = const(0x16)
BLOCK_BOLUS_EXTRA = const(0x17)
BLOCK_CONFIGURE_ALERTS = const(0x19)
BLOCK_INSULIN_SCHEDULE = const(0x1A)
BLOCK_DEACTIVATE = const(0x1C)
BLOCK_STATUS = const(0x1D)           # StatusResponse: no length byte, 10 bytes in all
BLOCK_BEEP_CONFIG = const(0x1E)
BLOCK_CANCEL = const(0x1F)

STATUS_BLOCK_LEN = const(10)
VERSION_SHORT_LEN = const(0x15)
VERSION_LONG_LEN = const(0x1B)

# blocks that carry a nonce (all nonce blocks of one message carry the same value)
NONCE_BLOCKS = (BLOCK_FAULT_CONFIG, BLOCK_ACK_ALERTS, BLOCK_CONFIGURE_ALERTS,
                BLOCK_INSULIN_SCHEDULE, BLOCK_DEACTIVATE, BLOCK_CANCEL)
# blocks after which the pod records the message seq as "last programming seq"
PROGRAMMING_BLOCKS = (BLOCK_SETUP_POD, BLOCK_FAULT_CONFIG, BLOCK_ACK_ALERTS, BLOCK_CONFIGURE_ALERTS,
                      BLOCK_INSULIN_SCHEDULE, BLOCK_DEACTIVATE, BLOCK_BEEP_CONFIG, BLOCK_CANCEL)

# ---- GetStatus request / PodInfoResponse subtypes
INFO_STATUS = const(0x00)            # answered with 1D
INFO_TRIGGERED_ALERTS = const(0x01)
INFO_DETAILED_STATUS = const(0x02)
INFO_PULSE_LOG_PLUS = const(0x03)
INFO_ACTIVATION_TIME = const(0x05)
INFO_TEST_VALUES = const(0x06)
INFO_RESET_STATUS = const(0x46)
INFO_PULSE_LOG_RECENT = const(0x50)
INFO_PULSE_LOG_PREVIOUS = const(0x51)
INFO_TYPES = (0x00, 0x01, 0x02, 0x03, 0x05, 0x06, 0x46, 0x50, 0x51)

# ---- pod progress
PROGRESS_INITIALIZED = const(0)
PROGRESS_MEMORY_INITIALIZED = const(1)
PROGRESS_REMINDER_INITIALIZED = const(2)
PROGRESS_PAIRING_COMPLETED = const(3)
PROGRESS_PRIMING = const(4)
PROGRESS_PRIMING_COMPLETED = const(5)
PROGRESS_BASAL_INITIALIZED = const(6)
PROGRESS_INSERTING_CANNULA = const(7)
PROGRESS_ABOVE_50_UNITS = const(8)
PROGRESS_50_OR_LESS_UNITS = const(9)
PROGRESS_FAULT = const(13)
PROGRESS_ACTIVATION_TIME_EXCEEDED = const(14)
PROGRESS_INACTIVE = const(15)

# ---- delivery status bits (1D high nibble, detailed status byte)
DELIVERY_SUSPENDED = const(0)
DELIVERY_BASAL = const(1)
DELIVERY_TEMP_BASAL = const(2)
DELIVERY_BOLUS = const(4)
DELIVERY_EXTENDED_BOLUS = const(8)

# ---- CancelDelivery low nibble
CANCEL_BASAL = const(1)
CANCEL_TEMP_BASAL = const(2)
CANCEL_BOLUS = const(4)

# ---- insulin schedule tables (1A TT)
TABLE_BASAL = const(0)
TABLE_TEMP_BASAL = const(1)
TABLE_BOLUS = const(2)

# ---- ErrorResponse codes
ERROR_ILLEGAL_PARAMETER = const(0x07)
ERROR_BAD_CHECKSUM = const(0x0A)
ERROR_BAD_LENGTH = const(0x0B)
ERROR_WRONG_STATE = const(0x0C)
ERROR_ILLEGAL_COMMAND = const(0x0D)
ERROR_BAD_NONCE = const(0x14)

# ---- fault event codes (selection)
FAULT_NONE = const(0x00)
FAULT_RESET_LVD = const(0x12)
FAULT_MESSAGE_TOO_LONG = const(0x13)
FAULT_OCCLUDED = const(0x14)
FAULT_RESERVOIR_EMPTY = const(0x18)
FAULT_POD_EXPIRED = const(0x1C)
FAULT_SETUP_POD = const(0x28)
FAULT_WRONG_STATE = const(0x31)
FAULT_BAD_PIEZO = const(0x37)
FAULT_PRIME_OPEN_COUNT_LOW = const(0x5C)
FAULT_OCCLUSION_ABOVE_THRESHOLD = const(0x6A)
FAULT_1A_PARSE = const(0x8F)

# ---- pulses and timing (integers only)
PULSE_VOLUME_1E5_U = const(5000)     # 0x1388: 0.05 U in 1e-5 U
BOLUS_INTERVAL_EIGHTHS = const(0x10) # 2 s per bolus pulse
PRIME_INTERVAL_EIGHTHS = const(0x08) # 1 s per prime/cannula pulse
PRIME_PULSES = const(52)
CANNULA_PULSES = const(10)
POD_LIFE_HOURS = const(80)
BOLUS_PULSE_MS = const(2000)
PRIME_PULSE_MS = const(1000)
MAX_BOLUS_PULSES = const(600)
MAX_RATE_PPH = const(600)            # 30 U/h
RESERVOIR_ABOVE_50U = const(0x3FF)   # 10-bit reservoir field meaning "more than 50 U"
RESERVOIR_REPORT_PULSES = const(1000) # 50 U: exact reading at or below this

# ---- alert slots
SLOT_AUTO_OFF = const(0)
SLOT_SHUTDOWN_IMMINENT = const(2)
SLOT_EXPIRATION_REMINDER = const(3)
SLOT_LOW_RESERVOIR = const(4)
SLOT_SUSPEND_REMINDER = const(5)
SLOT_SUSPEND_EXPIRED = const(6)
SLOT_EXPIRED = const(7)

# ---- beep types
BEEP_NONE = const(0)
BEEP_SILENT = const(0xF)
