// Just enough of the Arduino core for a host compiler to check that the example sketch compiles
// against the library (package.test.ts). Nothing here runs.
#pragma once
#include <stddef.h>
#include <stdint.h>

#define A0 14
class __FlashStringHelper;
#define F(s) (reinterpret_cast<const __FlashStringHelper *>(s))

struct HardwareSerialStub {
  void begin(unsigned long) {}
  int available() { return 0; }
  int read() { return -1; }
  size_t write(const uint8_t *, size_t n) { return n; }
  size_t println(const __FlashStringHelper *) { return 0; }
  size_t print(const __FlashStringHelper *) { return 0; }
  void flush() {}
};
extern HardwareSerialStub Serial;

unsigned long millis();
unsigned long micros();
long random(long max);
long random(long min, long max);
void randomSeed(unsigned long seed);
int analogRead(uint8_t pin);
