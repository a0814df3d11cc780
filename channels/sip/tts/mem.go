package tts

import (
	"container/list"
	"os"
	"sync"
	"time"
)

// touchEvery is how often a prompt served from memory refreshes its file's
// mtime, the disk cache's LRU clock.
const touchEvery = time.Minute

// memCache keeps the PCM of recently spoken prompts in memory in front of
// the disk cache, least recently used out first, within max bytes of PCM.
// The disk stays the truth: a hit costs one stat(2) to see that the file
// is still the one that was read (same size and mtime), so an entry
// evicted from the directory, rewritten or broken by another process is
// read again (or synthesised again), never served stale.
type memCache struct {
	mu    sync.Mutex
	max   int64
	bytes int64
	ll    *list.List // of *memEntry, most recent first
	items map[string]*list.Element
}

type memEntry struct {
	key   string
	audio *Audio
	size  int64     // of the file
	mtime time.Time // of the file as last seen
}

func newMemCache(max int64) *memCache {
	return &memCache{max: max, ll: list.New(), items: map[string]*list.Element{}}
}

// get returns the prompt of key if it is in memory and its file unchanged.
func (c *memCache) get(key string) (*Audio, bool) {
	if c.max <= 0 {
		return nil, false
	}
	c.mu.Lock()
	el, ok := c.items[key]
	if !ok {
		c.mu.Unlock()
		return nil, false
	}
	c.ll.MoveToFront(el)
	e := *el.Value.(*memEntry)
	c.mu.Unlock()
	fi, err := os.Stat(e.audio.Path)
	if err != nil || fi.Size() != e.size || !fi.ModTime().Equal(e.mtime) {
		c.drop(key, el)
		return nil, false
	}
	if now := time.Now(); now.Sub(e.mtime) > touchEvery {
		if os.Chtimes(e.audio.Path, now, now) == nil {
			if fi, err := os.Stat(e.audio.Path); err == nil {
				c.mu.Lock()
				if c.items[key] == el {
					el.Value.(*memEntry).mtime = fi.ModTime()
				}
				c.mu.Unlock()
			}
		}
	}
	return e.audio, true
}

// put keeps a (just read from or written to its file) under key.
func (c *memCache) put(key string, a *Audio) {
	size := int64(len(a.PCM))
	if c.max <= 0 || size > c.max {
		return
	}
	fi, err := os.Stat(a.Path)
	if err != nil {
		return
	}
	e := &memEntry{key: key, audio: a, size: fi.Size(), mtime: fi.ModTime()}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.bytes -= int64(len(el.Value.(*memEntry).audio.PCM))
		c.ll.Remove(el)
	}
	c.items[key] = c.ll.PushFront(e)
	c.bytes += size
	for c.bytes > c.max {
		last := c.ll.Back()
		old := last.Value.(*memEntry)
		c.ll.Remove(last)
		delete(c.items, old.key)
		c.bytes -= int64(len(old.audio.PCM))
	}
}

// drop forgets key if it is still el.
func (c *memCache) drop(key string, el *list.Element) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.items[key] != el {
		return
	}
	c.ll.Remove(el)
	delete(c.items, key)
	c.bytes -= int64(len(el.Value.(*memEntry).audio.PCM))
}

// held is the PCM bytes in memory.
func (c *memCache) held() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}
