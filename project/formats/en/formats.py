"""English dates as Leadflow has always written them: year first, a 24-hour clock (the
toy store and its customers are in Costa Rica, not in the United States). Everything
else is Django's English."""

SHORT_DATE_FORMAT = "Y-m-d"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
