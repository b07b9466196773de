/*
 * Transactional consume-transform-produce smoke test against a real broker,
 * using the system librdkafka (Debian 12: 2.0.2), the same library uniqd uses.
 *
 *   txn_smoke BOOTSTRAP IN_TOPIC OUT_TOPIC GROUP EXPECTED_MESSAGES
 *
 * 1. A consumer (group GROUP, cooperative-sticky, read_committed, no
 *    auto-commit) reads EXPECTED_MESSAGES messages from IN_TOPIC.
 * 2. A transactional producer: init_transactions, begin_transaction, produces
 *    one message per input message to OUT_TOPIC, send_offsets_to_transaction
 *    with the consumer's positions and group metadata, commit_transaction.
 * 3. A second transaction produces "aborted" messages and is aborted.
 * 4. The consumer's committed offsets (OffsetFetch) must equal its positions.
 * Prints "txn_smoke: OK" and exits 0 on success; every wait is bounded.
 * Build: gcc -O1 -o txn_smoke txn_smoke.c -lrdkafka
 */
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TIMEOUT_MS 30000

static void die(const char *what, const char *msg) {
    fprintf(stderr, "txn_smoke: FAIL: %s: %s\n", what, msg);
    exit(1);
}

static void check_err(const char *what, rd_kafka_error_t *err) {
    if (err) die(what, rd_kafka_error_string(err));
}

static void set(rd_kafka_conf_t *c, const char *k, const char *v) {
    char errstr[512];
    if (rd_kafka_conf_set(c, k, v, errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
        die(k, errstr);
}

static int delivery_failures = 0;
static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk; (void)opaque;
    if (m->err) {
        fprintf(stderr, "txn_smoke: delivery failed: %s\n", rd_kafka_err2str(m->err));
        delivery_failures++;
    }
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: %s BOOTSTRAP IN_TOPIC OUT_TOPIC GROUP EXPECTED\n", argv[0]);
        return 2;
    }
    const char *bootstrap = argv[1], *in = argv[2], *out = argv[3], *group = argv[4];
    int expected = atoi(argv[5]);
    char errstr[512];
    printf("txn_smoke: librdkafka %s\n", rd_kafka_version_str());

    /* consumer */
    rd_kafka_conf_t *cc = rd_kafka_conf_new();
    set(cc, "bootstrap.servers", bootstrap);
    set(cc, "group.id", group);
    set(cc, "partition.assignment.strategy", "cooperative-sticky");
    set(cc, "enable.auto.commit", "false");
    set(cc, "auto.offset.reset", "earliest");
    set(cc, "isolation.level", "read_committed");
    rd_kafka_t *consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cc, errstr, sizeof errstr);
    if (!consumer) die("consumer", errstr);
    rd_kafka_poll_set_consumer(consumer);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, in, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(consumer, sub);
    if (e) die("subscribe", rd_kafka_err2str(e));
    rd_kafka_topic_partition_list_destroy(sub);

    /* transactional producer */
    rd_kafka_conf_t *pc = rd_kafka_conf_new();
    set(pc, "bootstrap.servers", bootstrap);
    set(pc, "transactional.id", "uniqd-txn-smoke");
    set(pc, "transaction.timeout.ms", "60000");
    rd_kafka_conf_set_dr_msg_cb(pc, dr_cb);
    rd_kafka_t *producer = rd_kafka_new(RD_KAFKA_PRODUCER, pc, errstr, sizeof errstr);
    if (!producer) die("producer", errstr);
    check_err("init_transactions", rd_kafka_init_transactions(producer, TIMEOUT_MS));
    printf("txn_smoke: init_transactions ok\n");

    check_err("begin_transaction", rd_kafka_begin_transaction(producer));
    int got = 0;
    double deadline = now_s() + TIMEOUT_MS / 1000.0;
    while (got < expected && now_s() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(consumer, 500);
        if (!m) continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                fprintf(stderr, "txn_smoke: consumer: %s\n", rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        e = rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(out),
                              RD_KAFKA_V_KEY(m->key, m->key_len),
                              RD_KAFKA_V_VALUE(m->payload, m->len),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e) die("producev", rd_kafka_err2str(e));
        got++;
        rd_kafka_message_destroy(m);
    }
    if (got < expected) {
        fprintf(stderr, "txn_smoke: FAIL: consumed %d of %d messages in time\n", got, expected);
        return 1;
    }
    printf("txn_smoke: consumed %d messages (group %s, cooperative-sticky)\n", got, group);

    rd_kafka_topic_partition_list_t *pos;
    e = rd_kafka_assignment(consumer, &pos);
    if (e) die("assignment", rd_kafka_err2str(e));
    e = rd_kafka_position(consumer, pos);
    if (e) die("position", rd_kafka_err2str(e));
    rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata(consumer);
    check_err("send_offsets_to_transaction",
              rd_kafka_send_offsets_to_transaction(producer, pos, cgmd, TIMEOUT_MS));
    rd_kafka_consumer_group_metadata_destroy(cgmd);
    check_err("commit_transaction", rd_kafka_commit_transaction(producer, TIMEOUT_MS));
    printf("txn_smoke: commit_transaction ok\n");

    /* an aborted transaction: read_committed readers must never see it */
    check_err("begin_transaction(2)", rd_kafka_begin_transaction(producer));
    for (int i = 0; i < 3; i++) {
        e = rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(out), RD_KAFKA_V_VALUE("ABORTED", 7),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
        if (e) die("producev(2)", rd_kafka_err2str(e));
    }
    rd_kafka_flush(producer, TIMEOUT_MS);
    check_err("abort_transaction", rd_kafka_abort_transaction(producer, TIMEOUT_MS));
    printf("txn_smoke: abort_transaction ok\n");

    /* committed offsets must match the positions sent in the transaction */
    rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_copy(pos);
    e = rd_kafka_committed(consumer, committed, TIMEOUT_MS);
    if (e) die("committed", rd_kafka_err2str(e));
    for (int i = 0; i < pos->cnt; i++) {
        rd_kafka_topic_partition_t *p = &pos->elems[i];
        rd_kafka_topic_partition_t *c =
            rd_kafka_topic_partition_list_find(committed, p->topic, p->partition);
        if (!c || c->offset != p->offset) {
            fprintf(stderr, "txn_smoke: FAIL: %s [%d] position %lld committed %lld\n", p->topic,
                    p->partition, (long long)p->offset, c ? (long long)c->offset : -1LL);
            return 1;
        }
    }
    printf("txn_smoke: committed offsets match positions on %d partitions\n", pos->cnt);
    rd_kafka_topic_partition_list_destroy(committed);
    rd_kafka_topic_partition_list_destroy(pos);

    if (delivery_failures) die("delivery", "some messages failed");
    rd_kafka_consumer_close(consumer);
    rd_kafka_destroy(consumer);
    rd_kafka_destroy(producer);
    printf("txn_smoke: OK\n");
    return 0;
}
