#!/bin/sh
# The Kafka ACLs of the operations role: what `claims dlq list|show|replay|purge`
# need, and nothing else.  Access control for dead letters is the brokers': the
# engine's own checks (CLAIMS_OPERATOR, CLAIMS_REVEAL_OPERATORS) only name the
# operator and guard `--reveal` in the client, and anyone who may read a `.dlq`
# topic can read its payloads, patient data included, with any Kafka client
# (docs/security.md).
#
# Usage, as a principal allowed to alter ACLs, once per operator (or once for a
# shared ops principal):
#   OPS_PRINCIPAL=User:ops-alice BOOTSTRAP=kafka-bootstrap.kafka.svc:9093 \
#   COMMAND_CONFIG=admin.properties CLAIMS_TOPIC_PREFIX=prod. \
#   deploy/kafka/acls-ops.sh
# OPS_PRINCIPAL is the SASL user as the brokers name it (User:<name> unless
# they map names with principal.builder.class), COMMAND_CONFIG the client
# properties of the admin connection (TLS, SASL), CLAIMS_TOPIC_PREFIX the
# engine's topic prefix (empty by default).  KAFKA_ACLS=echo prints the
# arguments of each kafka-acls.sh call instead of running it.  Adding an ACL
# that exists changes nothing, so the script can run again after an upgrade.
#
# The brokers must run an authorizer (authorizer.class.name, e.g.
# org.apache.kafka.metadata.authorizer.StandardAuthorizer under KRaft) with
# allow.everyone.if.no.acl.found=false: then what is not listed here is denied.
# Kafka matches topic names literally or by prefix, never by suffix, so every
# dead-letter topic is listed by name; tests/unit/test_deploy.py checks the
# lists below against the topic catalogue (workers/runtime/topics.py).
#
# Nothing else is needed: the commands read without a consumer group; Read and
# Write include Describe; and Write on a topic includes the idempotent
# producer's cluster permission (Kafka 2.8 and later).  Not granted, on purpose:
# reading ops.audit (the trail is for auditors), reading the source topics, and
# creating, deleting or configuring anything.
set -eu

usage="set OPS_PRINCIPAL and BOOTSTRAP (see the head of $0)"
: "${OPS_PRINCIPAL:?$usage}"
: "${BOOTSTRAP:?$usage}"
PREFIX="${CLAIMS_TOPIC_PREFIX-}"
KAFKA_ACLS="${KAFKA_ACLS:-kafka-acls.sh}"

# add OPERATION TOPIC: allow OPS_PRINCIPAL one operation on one topic (literal name).
add() {
    operation=$1
    topic=$PREFIX$2
    set -- --bootstrap-server "$BOOTSTRAP"
    if [ -n "${COMMAND_CONFIG-}" ]; then
        set -- "$@" --command-config "$COMMAND_CONFIG"
    fi
    "$KAFKA_ACLS" "$@" --add --allow-principal "$OPS_PRINCIPAL" \
        --operation "$operation" --resource-pattern-type literal --topic "$topic"
}

# --- read: every dead-letter topic (list, show, replay) ---------------------------
add Read sessions.completed.dlq
add Read ref.clinics.dlq
add Read ref.therapists.dlq
add Read ref.payers.dlq
add Read ref.patients.dlq
add Read ref.prescriptions.dlq
add Read ref.authorizations.dlq
add Read eligibility.responses.dlq
add Read sessions.enriched.dlq
add Read sessions.cancelled.dlq
add Read charges.billable.dlq
add Read charges.self-pay.dlq
add Read claims.commands.dlq
add Read claims.submitted.dlq
add Read acks.inbound.dlq
add Read remits.835.inbound.dlq
add Read remits.plb.dlq
add Read remits.commands.dlq
add Read deposits.inbound.dlq
add Read deposits.match.dlq
add Read state.claims.ticks.dlq
add Read state.enrich.prescriptions-by-patient.dlq
add Read state.enrich.wakeups.dlq

# --- the dead letters' status: read (what was replayed or resolved), write
# (replay and purge mark it) ---------------------------------------------------------
add Read ops.dead-letters.status
add Write ops.dead-letters.status

# --- write: the audit trail (every replay, purge and reveal) ----------------------
add Write ops.audit

# --- write: the source topics, where replay republishes a dead letter --------------
# (the power to put any message on them: give this role to few people)
add Write sessions.completed
add Write ref.clinics
add Write ref.therapists
add Write ref.payers
add Write ref.patients
add Write ref.prescriptions
add Write ref.authorizations
add Write eligibility.responses
add Write sessions.enriched
add Write sessions.cancelled
add Write charges.billable
add Write charges.self-pay
add Write claims.commands
add Write claims.submitted
add Write acks.inbound
add Write remits.835.inbound
add Write remits.plb
add Write remits.commands
add Write deposits.inbound
add Write deposits.match
add Write state.claims.ticks
add Write state.enrich.prescriptions-by-patient
add Write state.enrich.wakeups
