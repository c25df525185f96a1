package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"
)

// partitionReader consumes one partition of the Kafka topic. Every node reads
// every partition with no consumer group (a group would hand each record to
// one node only) and without committing anything.
type partitionReader struct {
	p       int
	r       *kafka.Reader
	lag     atomic.Int64
	failing atomic.Bool
	epoch   string // the partition's epoch (kafka_position.go)
	floor   int64  // the offset before the first one this reader reads (kafka_position.go)
	// last is the highest sequence delivered per publisher process
	// (origin/run): a record written twice (a retried write that had in fact
	// succeeded) comes back with a sequence already seen.
	last map[string]uint64
}

// bootstrap learns the partitions (creating the topic if the brokers allow),
// resolves every partition's latest offset and starts one reader each. The
// sender waits for it, so this node's readers see all its own writes.
func (b *Kafka) bootstrap(ctx context.Context) error {
	parts, err := b.partitions(ctx)
	if err != nil {
		return err
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, p := range parts {
		req.Topics[b.cfg.Topic] = append(req.Topics[b.cfg.Topic], kafka.LastOffsetOf(p))
	}
	res, err := b.client.ListOffsets(ctx, req)
	if err != nil {
		return fmt.Errorf("list offsets: %w", err)
	}
	offsets := map[int]int64{}
	for _, po := range res.Topics[b.cfg.Topic] {
		if po.Error != nil {
			return fmt.Errorf("list offsets of partition %d: %w", po.Partition, po.Error)
		}
		offsets[po.Partition] = po.LastOffset
	}
	b.parts.Store(&parts)
	for _, p := range parts {
		off, ok := offsets[p]
		if !ok {
			return fmt.Errorf("no offset for partition %d", p)
		}
		b.startReader(p, off)
	}
	close(b.ready)
	b.setHealthy()
	b.log.Info("kafka bus connected", "brokers", b.cfg.Brokers, "partitions", len(parts), "node", b.cfg.NodeID)
	return nil
}

// bootstrapLoop retries bootstrap with backoff until it succeeds.
func (b *Kafka) bootstrapLoop() {
	for failures := 1; ; failures++ {
		select {
		case <-b.ctx.Done():
			return
		case <-time.After(backoff(failures)):
		}
		ctx, cancel := context.WithTimeout(b.ctx, 3*time.Second)
		err := b.bootstrap(ctx)
		cancel()
		if err == nil {
			return
		}
		b.m.errors.WithLabelValues("connect").Inc()
		b.setDegraded("kafka unreachable: " + err.Error())
	}
}

// metadataLoop starts readers for partitions added to the topic later (from
// their first offset: everything in them is new).
func (b *Kafka) metadataLoop() {
	select {
	case <-b.ready:
	case <-b.ctx.Done():
		return
	}
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(b.ctx, 3*time.Second)
		parts, err := b.partitions(ctx)
		cancel()
		if err != nil {
			continue
		}
		if old := b.partitionIDs(); len(parts) != len(old) {
			b.log.Warn("kafka topic partition count changed: topics may move to another partition (Kafka caveat)", "from", len(old), "to", len(parts))
			b.parts.Store(&parts)
		}
		for _, p := range parts {
			b.readersMu.Lock()
			_, known := b.readers[p]
			b.readersMu.Unlock()
			if !known {
				b.log.Info("kafka topic grew: reading new partition", "partition", p)
				b.startReader(p, kafka.FirstOffset)
			}
		}
	}
}

// partitions returns the topic's partition IDs, creating the topic with the
// brokers' defaults if it does not exist.
func (b *Kafka) partitions(ctx context.Context) ([]int, error) {
	for attempt := 0; ; attempt++ {
		md, err := b.client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{b.cfg.Topic}})
		if err != nil {
			return nil, fmt.Errorf("metadata: %w", err)
		}
		b.setCluster(md.ClusterID)
		for _, t := range md.Topics {
			if t.Name != b.cfg.Topic {
				continue
			}
			if t.Error == nil && len(t.Partitions) > 0 {
				ids := make([]int, len(t.Partitions))
				for i, p := range t.Partitions {
					ids[i] = p.ID
				}
				slices.Sort(ids)
				return ids, nil
			}
			if t.Error != nil && !errors.Is(t.Error, kafka.UnknownTopicOrPartition) {
				return nil, fmt.Errorf("topic %s: %w", b.cfg.Topic, t.Error)
			}
		}
		if attempt > 0 {
			return nil, fmt.Errorf("topic %s does not exist and could not be created", b.cfg.Topic)
		}
		res, err := b.client.CreateTopics(ctx, &kafka.CreateTopicsRequest{
			Topics: []kafka.TopicConfig{{Topic: b.cfg.Topic, NumPartitions: -1, ReplicationFactor: -1}},
		})
		if err != nil {
			return nil, fmt.Errorf("create topic %s: %w", b.cfg.Topic, err)
		}
		if e := res.Errors[b.cfg.Topic]; e != nil && !errors.Is(e, kafka.TopicAlreadyExists) {
			return nil, fmt.Errorf("create topic %s: %w", b.cfg.Topic, e)
		}
		b.log.Info("created kafka topic with the brokers' default partitions", "topic", b.cfg.Topic)
	}
}

func (b *Kafka) startReader(p int, offset int64) {
	b.readersMu.Lock()
	defer b.readersMu.Unlock()
	if _, ok := b.readers[p]; ok {
		return
	}
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers:   b.cfg.Brokers,
		Topic:     b.cfg.Topic,
		Partition: p,
		Dialer:    &kafka.Dialer{Timeout: 2 * time.Second, ClientID: "wsgate-" + b.cfg.NodeID},
		// Latency: answer a fetch as soon as one byte is there.
		MinBytes:        1,
		MaxBytes:        16 << 20,
		MaxWait:         500 * time.Millisecond,
		QueueCapacity:   1024,
		ReadLagInterval: -1,
		ReadBackoffMin:  50 * time.Millisecond,
		ReadBackoffMax:  1 * time.Second,
		MaxAttempts:     3,
		ErrorLogger: kafka.LoggerFunc(func(format string, args ...any) {
			b.log.Debug("kafka reader: "+fmt.Sprintf(format, args...), "partition", p)
		}),
	})
	if err := r.SetOffset(offset); err != nil {
		b.log.Error("kafka reader offset", "partition", p, "err", err)
	}
	pr := &partitionReader{p: p, r: r, last: map[string]uint64{}, epoch: b.partitionEpoch(p), floor: offset - 1}
	if offset < 0 { // kafka.FirstOffset: a new partition, read from its start
		pr.floor = -1
	}
	b.readers[p] = pr
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		b.readLoop(pr)
	}()
}

// readLoop delivers one partition in order, from one goroutine. kafka-go's
// Reader reconnects with backoff and resumes from its offset by itself.
func (b *Kafka) readLoop(pr *partitionReader) {
	for {
		msg, err := pr.r.FetchMessage(b.ctx)
		if err != nil {
			if b.ctx.Err() != nil {
				return
			}
			pr.failing.Store(true)
			b.m.errors.WithLabelValues("read").Inc()
			b.log.Debug("kafka read", "partition", pr.p, "err", err)
			select {
			case <-b.ctx.Done():
				return
			case <-time.After(200 * time.Millisecond):
			}
			continue
		}
		pr.failing.Store(false)
		pr.lag.Store(max(msg.HighWaterMark-msg.Offset-1, 0))
		b.consume(pr, &msg)
	}
}

// readerHealthLoop clears a reader's failing mark once it fetches again
// without errors. A reader learns of a failure from FetchMessage, but a
// recovered reader on an idle partition returns nothing until a message
// comes, so recovery is read from kafka-go's fetch counters instead: a
// second without read errors and with at least one fetch means it is back.
func (b *Kafka) readerHealthLoop() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
		b.readersMu.Lock()
		for _, pr := range b.readers {
			st := pr.r.Stats() // counters since the previous call
			if pr.failing.Load() && st.Fetches > 0 && st.Errors == 0 {
				pr.failing.Store(false)
			}
		}
		b.readersMu.Unlock()
	}
}

// consume decides whether a record is delivered on this node and delivers it.
func (b *Kafka) consume(pr *partitionReader, msg *kafka.Message) {
	if msg.Key == nil {
		b.m.errors.WithLabelValues("decode").Inc()
		b.log.Debug("kafka record without key (the wsgate topic) skipped", "partition", pr.p, "offset", msg.Offset)
		return
	}
	h, echo := parseHeaders(msg.Headers), false
	if h.hasSeq {
		key := h.origin + "/" + h.run
		if h.seq <= pr.last[key] {
			b.m.duplicates.Inc()
			return
		}
		pr.last[key] = h.seq
		if h.run == b.run && h.origin == b.cfg.NodeID && b.ownEcho(h.seq) {
			if !b.cfg.Echoes {
				return // delivered here when it was published (degraded)
			}
			echo = true
		}
	}
	b.deliver(Message{Topic: string(msg.Key), OpCode: h.op, Payload: msg.Value, Offset: msg.Offset, Epoch: pr.epoch, Echo: echo})
}

// readersFailing counts partitions whose reader cannot fetch right now.
func (b *Kafka) readersFailing() (failing, total int) {
	b.readersMu.Lock()
	defer b.readersMu.Unlock()
	for _, r := range b.readers {
		if r.failing.Load() {
			failing++
		}
	}
	return failing, len(b.readers)
}

func (b *Kafka) lagTotal() float64 {
	b.readersMu.Lock()
	defer b.readersMu.Unlock()
	var n int64
	for _, r := range b.readers {
		n += r.lag.Load()
	}
	return float64(n)
}

// recordHeaders are what a record's headers say: its opcode, and who
// published it with which per-process sequence number (hasSeq: all of it
// was there and the number parsed). Live reads and resume fetches share it.
type recordHeaders struct {
	op          OpCode
	origin, run string
	seq         uint64
	hasSeq      bool
}

func parseHeaders(hs []kafka.Header) recordHeaders {
	h := recordHeaders{op: OpText}
	var seqText []byte
	var haveRun bool
	for _, kv := range hs {
		switch kv.Key {
		case hdrOrigin:
			h.origin = string(kv.Value)
		case hdrRun:
			h.run, haveRun = string(kv.Value), true
		case hdrSeq:
			seqText = kv.Value
		case hdrOp:
			switch string(kv.Value) {
			case "binary", "2":
				h.op = OpBinary
			case "close":
				h.op = OpClose
			}
		}
	}
	if seqText != nil && haveRun {
		if seq, err := strconv.ParseUint(string(seqText), 10, 64); err == nil {
			h.seq, h.hasSeq = seq, true
		}
	}
	return h
}
