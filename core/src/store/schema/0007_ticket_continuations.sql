-- Threading follows a conversation from a closed ticket to the ticket that continues
-- it (previous_ticket_id); without an index each step would scan every ticket.

CREATE INDEX tickets_previous ON tickets (previous_ticket_id);
