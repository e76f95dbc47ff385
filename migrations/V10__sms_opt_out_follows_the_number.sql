-- The SMS opt-out flag (users.sms_opted_out, set when SNS or a carrier
-- receipt says the number opted out) belongs to the number, not the person:
-- when the HTTP API writes a different mobile_number, the new number is
-- usable again and routing (torium_domain::route) may choose SMS for it.
-- Writing the same number again (or only other columns) keeps the flag.

CREATE FUNCTION users_clear_sms_opt_out() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF NEW.mobile_number IS DISTINCT FROM OLD.mobile_number THEN
        NEW.sms_opted_out := false;
        NEW.sms_opted_out_at := NULL;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER users_mobile_number_changed
    BEFORE UPDATE OF mobile_number ON users
    FOR EACH ROW EXECUTE FUNCTION users_clear_sms_opt_out();
