-- is_known_time_zone (V1) read pg_timezone_names, which scans the whole
-- zone directory on every call: ~30 ms per inserted or updated event, hours
-- for a bulk load. Converting a time through the zone uses PostgreSQL's
-- cached zone lookup instead (microseconds) and refuses the same unknown
-- names. The events.time_zone CHECK picks the new definition up as it is.
CREATE OR REPLACE FUNCTION is_known_time_zone(zone text) RETURNS boolean
    LANGUAGE plpgsql STABLE
    AS $$
BEGIN
    PERFORM now() AT TIME ZONE zone;
    RETURN true;
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN false;
END
$$;
